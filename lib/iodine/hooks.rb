module Iodine
  # Lifecycle hooks: Iodine.on_state(:on_start) { ... }.
  STATES = %i[pre_start before_fork after_fork enter_child enter_master on_start
              on_child_crush start_shutdown on_finish].freeze
  @hooks = Hash.new { |h, k| h[k] = [] }

  def self.on_state(state, &block)
    state = state.to_sym
    raise ArgumentError, "unknown state #{state.inspect} (one of #{STATES.join(", ")})" unless STATES.include?(state)
    raise ArgumentError, "on_state needs a block" unless block
    @hooks[state] << block
    block
  end

  # Runs a state's hooks; a failing hook is logged and the others still run.
  def self.run_hooks(state)
    @hooks[state].each do |hook|
      hook.call
    rescue StandardError => e
      $stderr.write("ERROR: on_state(#{state.inspect}) hook raised #{e.class}: #{e.message}\n")
    end
  end
end
