# Builds iodine's two native parts:
#  * the Go core (../../go), with `go build -buildmode=c-shared`, into
#    lib/iodine/libiodine_go.so — loaded later with dlopen(), never linked;
#  * the C glue (this folder), an ordinary Ruby extension: iodine/iodine_ext.
require "mkmf"

root = File.expand_path("../..", __dir__)
go_dir = File.join(root, "go")
go_lib = File.join(root, "lib", "iodine", "libiodine_go.so")

go = ENV["GO"] || find_executable("go") || %w[/usr/local/go/bin/go /usr/lib/go/bin/go].find { |g| File.executable?(g) }
abort "iodine needs Go (1.23 or newer) to build its server core: https://go.dev/dl/" unless go

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
  mk.puts "\n$(OBJS): #{File.join(go_dir, 'iodine.h')} #{File.join(__dir__, 'iodine_ext.h')}"
end
