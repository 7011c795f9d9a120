# WebSocket echo for bench/ws.sh (wsbench echo): every message comes back
# unchanged on the same connection. Plain HTTP gets 200 "ok".
#   iodine -p 3000 -t 1 -w 0 bench/ws_echo.ru
module Echo
  def self.on_message(conn, msg)
    conn.write msg
  end
end

run(lambda do |env|
  if env["rack.upgrade?"] == :websocket
    env["rack.upgrade"] = Echo
    [200, {}, []]
  else
    [200, { "content-type" => "text/plain", "content-length" => "2" }, ["ok"]]
  end
end)
