# Builds iodine's two native parts:
#  * the Go core (../../go), with `go build -buildmode=c-shared`, into
#    lib/iodine/libiodine_go.so — loaded later with dlopen(), never linked;
#  * the C glue (this folder), an ordinary Ruby extension: iodine/iodine_ext.
require "mkmf"

root = File.expand_path("../..", __dir__)
go_dir = File.join(root, "go")
go_lib = File.join(root, "lib", "iodine", "libiodine_go.so")

# The one minimum Go version, as go/go.mod's `go` line states it (its dependencies need it).
GO_MINIMUM = File.read(File.join(go_dir, "go.mod"))[/^go (\d+\.\d+)/, 1]

go = ENV["GO"] || find_executable("go") || %w[/usr/local/go/bin/go /usr/lib/go/bin/go].find { |g| File.executable?(g) }
abort "iodine needs Go (#{GO_MINIMUM} or newer) to build its server core: https://go.dev/dl/" unless go
found = `#{go} env GOVERSION`.strip[/\Ago(\d+\.\d+)/, 1]
if found && Gem::Version.new(found) < Gem::Version.new(GO_MINIMUM)
  abort "iodine needs Go #{GO_MINIMUM} or newer to build its server core; #{go} is go#{found}: https://go.dev/dl/"
end

puts "building the Go core: #{go_lib}"
ok = system(go, "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w",
            "-o", go_lib, ".", chdir: go_dir)
abort "iodine: `go build` of the server core failed" unless ok
File.delete(go_lib.sub(/\.so\z/, ".h")) if File.exist?(go_lib.sub(/\.so\z/, ".h"))

have_library("dl", "dlopen") || have_library("c", "dlopen")
$CFLAGS << " -std=gnu11 -O2 -Wall -Wno-unused-parameter -I#{go_dir}"
$INCFLAGS << " -I#{go_dir}"
create_makefile("iodine/iodine_ext")

# The C files include go/iodine.h: rebuild them when it (or ours) changes.
File.open("Makefile", "a") do |mk|
  mk.puts "\n$(OBJS): #{File.join(go_dir, "iodine.h")} #{File.join(__dir__, "iodine_ext.h")}"
end
