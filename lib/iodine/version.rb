module Iodine
  VERSION = "0.8.0".freeze
end
