require_relative "lib/iodine/version"

Gem::Specification.new do |s|
  s.name = "iodine"
  s.version = Iodine::VERSION
  s.summary = "A fast concurrent Rack/NeoRack server with native WebSockets, SSE and Pub/Sub, with a Go core"
  s.description = "Iodine is a drop-in replacement for the iodine gem: an HTTP/1.1 Rack application " \
                  "server whose network core is Go (fasthttp), bridged to Ruby by a thin C extension."
  s.license = "MIT"
  s.authors = ["iodine contributors"]
  s.homepage = "https://github.com/boazsegev/iodine"
  s.required_ruby_version = ">= 3.0"
  s.files = Dir["lib/**/*.rb", "exe/*", "ext/iodine/*.{c,h,rb}", "go/*.{go,c,h}", "go/go.mod",
                "go/go.sum", "README.md", "LICENSE*"]
  s.bindir = "exe"
  s.executables = ["iodine"]
  s.extensions = ["ext/iodine/extconf.rb"]
  s.require_paths = ["lib"]
  s.add_dependency "rack", ">= 2.0"
end
