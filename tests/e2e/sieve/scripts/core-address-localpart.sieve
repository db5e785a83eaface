if address :localpart :is ["to", "cc"] "dave" { discard; }
