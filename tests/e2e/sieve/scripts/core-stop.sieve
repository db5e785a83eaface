if true { redirect "first@example.net"; stop; }
redirect "never@example.net";
