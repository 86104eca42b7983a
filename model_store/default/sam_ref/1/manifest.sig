{"algorithm": "ed25519", "key_id": "4e45c820e87efcee", "signature": "DsYEgMi0IAypa+CFdmMsSM55H/IS9Nno5iIw4vwOyjb5AO6eSzam50TLb+8B9520DhxIPBc1RAsn7WGTpco8Aw=="}
