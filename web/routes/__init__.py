"""Page routes, as thin as the API's: parse, one use case, render or redirect."""
