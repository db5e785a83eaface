if header :contains ["subject", "from"] ["garden", "news", "lottery"] { discard; }
