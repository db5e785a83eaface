require ["variables", "relational", "comparator-i;ascii-numeric"];
if header :matches "subject" "*" { set :length "len" "${0}"; }
if string :value "gt" :comparator "i;ascii-numeric" "${len}" "20" { redirect "long-subject@example.net"; }
