print("diffsbi-bench")
