require "comparator-i;ascii-numeric";
if header :is :comparator "i;ascii-numeric" "x-spam-score" "08" { discard; }
