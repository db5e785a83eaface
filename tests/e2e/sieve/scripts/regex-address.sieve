require "regex";
if address :regex :domain "from" "^(lists|store)\\.example\\.(com|net)$" { discard; }
