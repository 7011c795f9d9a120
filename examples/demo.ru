# The demo app started by bin/demo: a few routes showing what the server does.
require "json"

Demo = lambda do |env|
  case env["PATH_INFO"]
  when "/"
    [200, { "Content-Type" => "text/html" }, [<<~HTML]]
      <h1>Hello from iodine #{Iodine::VERSION}</h1>
      <ul>
        <li><a href="/env">/env</a>: the Rack env of this request</li>
        <li><a href="/stream">/stream</a>: a body streamed with <code>each</code></li>
        <li><code>curl --data-binary @file http://127.0.0.1:3000/upload</code>: upload size</li>
      </ul>
    HTML
  when "/env"
    visible = env.select { |_, v| v.is_a?(String) || v == true || v == false }
    [200, { "Content-Type" => "application/json" }, [JSON.pretty_generate(visible)]]
  when "/stream"
    body = Enumerator.new do |y|
      5.times do |i|
        y << "tick #{i}\n"
        sleep 0.3
      end
    end
    [200, { "Content-Type" => "text/plain" }, body]
  when "/upload"
    [200, { "Content-Type" => "text/plain" }, ["received #{env["rack.input"].read.bytesize} bytes\n"]]
  else
    [404, { "Content-Type" => "text/plain" }, ["Not Found\n"]]
  end
end

run Demo
