print("diffsbi: under construction")
