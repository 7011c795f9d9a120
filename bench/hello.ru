# The seed README's hello world, used by bench/run.sh for every server.
App = proc do |_env|
  [200,
   { "Content-Type" => "text/html".freeze,
     "Content-Length" => "16".freeze },
   ["Hello from Rack!".freeze]]
end

run App
