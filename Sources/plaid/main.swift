print("plaid")
