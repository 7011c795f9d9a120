# frozen_string_literal: true

# Rack 2's Rack::Handler.get("iodine") (used by `rackup -s iodine` and `rails server iodine`)
# requires this file, then looks up the handler registered as "iodine".
require "iodine"
require "iodine/rack_handler"

Iodine::Rack.register
