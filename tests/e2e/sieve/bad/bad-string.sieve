redirect "a@b.c;
