WHO = "alpha"
