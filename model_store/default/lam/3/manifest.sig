{"algorithm": "ed25519", "key_id": "2999d56dfc525fdd", "signature": "l7CLm/Wb3uKjKM41Dfd2jkjGrpE5yYrWTwehF2P2BfFEjbfNtg8gyGu88Rc1DHqR1LAflsnztu9c8wYPWkE5Ag=="}
