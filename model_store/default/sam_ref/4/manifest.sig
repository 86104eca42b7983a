{"algorithm": "ed25519", "key_id": "2999d56dfc525fdd", "signature": "cd5uvaxLMzH4p7758VKCgNbkqAWa+0YuKUP8lzI8ysnShLsWLLnGMcWy6K5dUIQHtlc6lJxQg1cF/wRXlE7CCQ=="}
