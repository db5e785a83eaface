if size :over 10K { redirect "big@example.net"; } elsif size :under 500 { discard; }
