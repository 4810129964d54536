"""Fleet-scale simulations (`edgecv simulate ...`)."""
