# The seed README's broadcast example ("Using Rack for WebSocket/SSE"), for
# bench/ws.sh (wsbench broadcast and idle): every connection subscribes to
# :broadcast, and every message any connection sends is published to it, so
# it reaches every connection, the sender included.
#   iodine -p 3000 -t 1 -w 0 bench/ws_broadcast.ru
module App
  def self.call(env)
    txt = []
    if env["rack.upgrade?"]
      env["rack.upgrade"] = self
    else
      env.each { |k, v| txt << "#{k}: #{v}\r\n" }
    end
    [200, {}, txt]
  end

  def self.on_open(e)
    e.subscribe :broadcast
  end

  def self.on_message(_e, m)
    Iodine.publish :broadcast, m
  end
end
run App
