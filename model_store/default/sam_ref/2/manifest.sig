{"algorithm": "ed25519", "key_id": "4e45c820e87efcee", "signature": "bzr1gS1RwGo6gFTRF5IALh+ioMkiY4mXwGhyIR7H7z3n5jwYVBoa+FIJf+x2jV8EOrs5LCROw1D7Ta0/P0wJAA=="}
