require "reject";
if header :contains "subject" "WON" { reject "No lottery mail, thanks."; }
