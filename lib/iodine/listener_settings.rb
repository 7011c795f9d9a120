module Iodine
  # A listener's settings: the one place their defaults and units are set.
  # Users give them in iodine's units under iodine's names (max_body: in MB,
  # max_headers: in KB, ...); the CLI, Iodine.listen and the clients read the
  # defaults here, and #core turns a listener's settings into the bytes and
  # seconds the C glue hands to Go, under names that carry the unit
  # (iodine_listen_cfg_t in go/iodine.h). Plain Ruby: the CLI loads it before
  # the extension exists.
  module ListenerSettings
    # name => [default, what one unit is worth in the core's unit, the core's name]
    UNITS = {
      max_body: [50, 1 << 20, :max_body_bytes], # MB
      max_headers: [32, 1 << 10, :max_header_bytes],          # KB, the whole header block
      max_line: [8192, 1, :max_line_bytes],                   # bytes, one header line
      max_header_count: [128, 1, :max_header_count],          # headers
      timeout: [40, 1, :keep_alive_s],                        # seconds of idle keep-alive
      max_msg: [250, 1 << 10, :max_msg_bytes],                # KB, one WebSocket message
      ping: [40, 1, :ping_s],                                 # seconds between pings
      max_age: [3600, 1, :max_age_s]                          # static files' max-age, seconds
    }.freeze

    DEFAULTS = UNITS.transform_values(&:first).freeze

    # Bodies above this size go to a temp file instead of memory.
    BODY_SPILL_BYTES = 256 << 10

    module_function

    # settings (user units, every key of UNITS present) => the core's names and units.
    def core(settings)
      UNITS.to_h { |name, (_, scale, core_name)| [core_name, (settings.fetch(name) * scale).to_i] }
           .merge(body_spill_bytes: BODY_SPILL_BYTES)
    end
  end
end
