# frozen_string_literal: true

require "spec_helper"

# Issue 2, point 1: `gem build iodine.gemspec && gem install ./iodine-*.gem`
# gives a working gem: its extconf.rb builds the Go core and the C glue on
# the user's machine, and the installed `iodine` command serves an app.
RSpec.describe "The packaged gem", timeout: 900 do
  # Child processes must not inherit this suite's Bundler setup.
  def clean_env(extra = {})
    { "RUBYOPT" => nil, "BUNDLE_GEMFILE" => nil, "BUNDLE_BIN_PATH" => nil, "BUNDLER_SETUP" => nil,
      "RUBYLIB" => nil, "RACK_ENV" => "production" }.merge(extra)
  end

  it "builds, installs with its extension compiled, and serves with the installed iodine command" do
    Dir.mktmpdir("iodine-gem-spec") do |dir|
      gem_file = File.join(dir, "iodine.gem")
      out, err, status = IodineSpec.run_command(clean_env, "gem", "build", "iodine.gemspec",
                                                "--output", gem_file, timeout: 120)
      expect(status&.success?).to be(true), "gem build failed:\n#{out}#{err}"

      # GEM_HOME (not --install-dir) so Debian's rack satisfies the dependency.
      home = File.join(dir, "gems")
      env = clean_env("GEM_HOME" => home, "GEM_PATH" => [home, *Gem.path].join(":"))
      out, err, status = IodineSpec.run_command(env, "gem", "install", "--local", "--no-document",
                                                gem_file, timeout: 600, chdir: dir)
      expect(status&.success?).to be(true), "gem install failed:\n#{out}#{err}"
      libs = Dir[File.join(home, "gems", "iodine-*", "lib", "iodine", "*.so")].map { |f| File.basename(f) }
      expect(libs).to include("iodine_ext.so", "libiodine_go.so")

      # The installed copy is the one `require "iodine"` finds (outside this checkout).
      out, err, status = IodineSpec.run_command(env, IodineSpec::RUBY, "-e",
                                                'require "iodine"; print $LOADED_FEATURES.grep(/iodine_ext/).first',
                                                timeout: 30, chdir: dir)
      expect(status&.success?).to be(true), err
      expect(out).to start_with(home)

      port = free_port
      cmd = [IodineSpec::RUBY, File.join(home, "bin", "iodine"), "-p", port.to_s, "-b", "127.0.0.1",
             "-t", "1", "-w", "0", fixture("hello.ru")]
      server = IodineSpec::Server.new(cmd, port: port, env: env)
      begin
        server.start(ready_timeout: 20)
        res = get(port, "/")
        expect(res.code).to eq("200")
        expect(res.body).to eq("Hello from Rack!")
        status = server.stop
        expect(status&.exitstatus).to eq(0)
      ensure
        warn server.output if server && !server.exited_status&.success?
        server.cleanup
      end
    end
  end
end
