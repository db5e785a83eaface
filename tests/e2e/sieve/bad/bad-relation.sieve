require "relational";
if header :value "xx" "a" "b" { keep; }
