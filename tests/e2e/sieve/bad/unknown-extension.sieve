require "frobnicate";
