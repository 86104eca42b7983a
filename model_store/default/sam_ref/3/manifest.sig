{"algorithm": "ed25519", "key_id": "2999d56dfc525fdd", "signature": "qcfLO9gPrLw7/47bguLruSr+BuSso2s8jSHGjDnjo5bsZE60TlcjMl3qg33OAR6vkZMD8ifaIa5DY+NGSkZjBw=="}
