require "ereject";
if header :is "x-spam-flag" "YES" { ereject "spam refused"; }
