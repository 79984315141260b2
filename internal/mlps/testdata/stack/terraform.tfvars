name = "gatehouse"
