p2
