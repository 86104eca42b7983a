{"algorithm": "ed25519", "key_id": "4e45c820e87efcee", "signature": "Ac0QIQ/uhLCqWFauVVWXloV6yiXuDa1kNWxvtl+LFBS1NICf8PyH4GvKPAxB+mokRUjHt/CBIE04Mug7tuLmAQ=="}
