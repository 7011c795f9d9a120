require_relative "lib/iodine/version"

Gem::Specification.new do |s|
  s.name = "iodine"
  s.version = Iodine::VERSION
  s.summary = "A fast concurrent Rack/NeoRack server with native WebSockets, SSE and Pub/Sub, with a Go core"
  s.description = "Iodine is a drop-in replacement for the iodine gem: an HTTP/1.1 Rack application " \
                  "server whose network core is Go (fasthttp), bridged to Ruby by a thin C extension."
  s.license = "MIT"
  s.authors = ["iodine (Go core) contributors"]
  s.homepage = "https://github.com/iodine-go/iodine"
  s.metadata = {
    "homepage_uri" => s.homepage,
    "source_code_uri" => s.homepage,
    "changelog_uri" => "#{s.homepage}/blob/main/CHANGELOG.md",
    "bug_tracker_uri" => "#{s.homepage}/issues",
    "rubygems_mfa_required" => "true"
  }
  s.required_ruby_version = ">= 3.0"
  # The Go sources without their tests: the gem builds the core, it does not test it.
  s.files = Dir["lib/**/*.rb", "exe/*", "ext/iodine/*.{c,h,rb}", "go/*.{go,c,h}", "go/go.mod",
                "go/go.sum", "README.md", "CHANGELOG.md", "LICENSE"].reject { |f| f.end_with?("_test.go") }
  s.bindir = "exe"
  s.executables = ["iodine"]
  s.extensions = ["ext/iodine/extconf.rb"]
  s.require_paths = ["lib"]
  s.add_dependency "rack", ">= 2.0"
end
