require "vacation";
vacation :days 3 :subject "Out of office" :from "alice@example.org" :addresses ["alice@example.org", "a.smith@example.org"] :handle "ooo" "I am away.";
