if header :comparator "i;frob" "a" "b" { keep; }
