require "vacation";
vacation "I am on vacation until next week.";
