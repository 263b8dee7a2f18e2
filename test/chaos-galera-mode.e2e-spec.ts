// `npm run chaos -- --galera`: its command line and the choice and bounds of its node faults
// (tools/chaos/run.ts, tools/chaos/galera-faults.ts). Pure functions, no cluster: the cluster run itself
// is bench/results/chaos-galera.md.
import { leaseNodeOf, nodeFaultBounds, nodeSkewOffset, pickNodeTarget } from '../tools/chaos/galera-faults';
import { ChaosUsageError, parseMix, parseOptions } from '../tools/chaos/run';

const TIMING = { leaseMs: 2_000, renewMs: 400, pollMs: 400, marginMs: 400, operationTimeoutMs: 1_600 };
const OUT = '--out=/tmp/chaos-galera-mode-test/run';

/** A fixed sequence of draws in [0, 1). */
const draws = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length];
};

describe('npm run chaos -- --galera', () => {
  describe('command line', () => {
    it('--galera switches to the cluster with node faults in the default mix, and without a server crash', () => {
      const options = parseOptions(['--galera', OUT]);
      expect(options.galera).toBe(true);
      const kinds = options.mix.filter((entry) => entry.weight > 0).map((entry) => entry.kind);
      expect(kinds).toEqual(
        expect.arrayContaining(['node-kill', 'node-pause', 'node-skew', 'kill', 'blackhole']),
      );
      expect(kinds).not.toContain('server');
    });

    it('without --galera the mix and the mode stay those of one server', () => {
      const options = parseOptions(['--faults=50', OUT]);
      expect(options.galera).toBe(false);
      expect(options.mix.map((entry) => entry.kind)).toEqual([
        'kill',
        'term',
        'pause',
        'latency',
        'blackhole',
        'reset',
        'server',
        'skew',
      ]);
    });

    it('refuses node faults without --galera and the server crash with it, naming the fix', () => {
      expect(() => parseMix('kill=1,node-kill=1')).toThrow(
        new ChaosUsageError(
          '--mix: node-kill is a Galera node fault; add --galera to run on a 3-node cluster',
        ),
      );
      expect(() => parseMix('server=1', true)).toThrow(/no single server to crash; node-kill/);
      expect(parseMix('node-pause=3', true)).toEqual([{ kind: 'node-pause', weight: 3 }]);
    });

    it('refuses a bare flag other than --galera, and a value for --galera other than true / false', () => {
      expect(() => parseOptions(['--faults'])).toThrow(
        /unknown argument "--faults" \(use --name=value, or --galera\)/,
      );
      expect(() => parseOptions(['--galera=yes', OUT])).toThrow(/--galera takes no value/);
    });
  });

  describe('node faults', () => {
    const candidate = (leadingTerm: number | null, leaseNode: number | null, alive = true) => ({
      alive,
      leadingTerm,
      leaseNode,
    });

    it("targets the node of the leader's lease traffic, even when the other candidates use another one", () => {
      expect(leaseNodeOf([candidate(null, 0), candidate(7, 2), candidate(null, 0)])).toBe(2);
    });

    it('without a leader, takes the node most live candidates use; without any report, node 0', () => {
      expect(leaseNodeOf([candidate(null, 1), candidate(null, 1, false), candidate(null, 2)])).toBe(1);
      expect(leaseNodeOf([candidate(null, 2), candidate(null, 1), candidate(null, 1)])).toBe(1);
      expect(leaseNodeOf([candidate(null, null)])).toBe(0);
    });

    it('picks the lease node or another node by a coin, drawing twice either way', () => {
      const lease = draws(0.2, 0.9);
      expect(pickNodeTarget(lease, 1, 3)).toEqual({ target: 'lease-node', node: 1 });
      expect(pickNodeTarget(draws(0.7, 0.9), 1, 3)).toEqual({ target: 'other-node', node: 2 });
      expect(pickNodeTarget(draws(0.7, 0.1), 1, 3)).toEqual({ target: 'other-node', node: 0 });
      // Both draws taken on the lease branch too: the next draw is the first again.
      expect(lease()).toBe(0.2);
    });

    it('judges a lease-node fault by L + 10 s after its heal and any node fault by L + 10 s while the node is lost', () => {
      expect(nodeFaultBounds(TIMING, 'lease-node', 'node-kill')).toEqual({
        boundMs: 12_000,
        lossBoundMs: 12_000,
      });
      expect(nodeFaultBounds(TIMING, 'other-node', 'node-kill')).toEqual({ lossBoundMs: 12_000 });
      expect(nodeFaultBounds(TIMING, 'other-node', 'node-skew')).toEqual({ lossBoundMs: 12_000 });
    });

    it("allows a frozen node Galera's inactive timeout: L + 15 s while frozen, L + 10 s after any SIGCONT", () => {
      expect(nodeFaultBounds(TIMING, 'other-node', 'node-pause')).toEqual({
        boundMs: 12_000,
        lossBoundMs: 17_000,
      });
      expect(nodeFaultBounds(TIMING, 'lease-node', 'node-pause')).toEqual({
        boundMs: 12_000,
        lossBoundMs: 17_000,
      });
    });

    it('skews a node by at most 0.4 M either way, so two skewed nodes differ by less than M', () => {
      expect(nodeSkewOffset(draws(0.1, 0.5), 400)).toEqual({ offsetMs: 0, faketime: null });
      expect(nodeSkewOffset(draws(0.3, 1 - 1e-9), 400)).toEqual({ offsetMs: -160, faketime: '-0.160' });
      expect(nodeSkewOffset(draws(0.9, 0.5), 400)).toEqual({ offsetMs: 80, faketime: '+0.080' });
      for (let i = 0; i < 200; i++) {
        const { offsetMs } = nodeSkewOffset(Math.random, 400);
        expect(Math.abs(offsetMs)).toBeLessThanOrEqual(160);
      }
    });
  });
});
