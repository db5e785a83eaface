require "relational";
if header :value "lt" "subject" "M" { redirect "a-to-l@example.net"; }
