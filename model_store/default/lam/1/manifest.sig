{"algorithm": "ed25519", "key_id": "4e45c820e87efcee", "signature": "ZXObvNXKaCMw7keaLSxO65eeYsAxUcluY237/ABXcAlnWoFiFjcjUWZXbx76n402yOzzPbh6sJB46WT6BQ1JBQ=="}
