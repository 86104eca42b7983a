{"algorithm": "ed25519", "key_id": "2999d56dfc525fdd", "signature": "a7sbuLjbkAGi3GqQc31kzhHj4jygnYgn7pWD3bp2BPjM0/6X7yNAphQcnZbC4FQzOkZO4wrz1Y7xBd6WYx25BA=="}
