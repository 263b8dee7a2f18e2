import { SetMetadata } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { Cron, Interval, Timeout } from '@nestjs/schedule';
import { LEADER_ONLY_METADATA } from '../leader-election.constants';
import { LeaderElectionConfigError } from '../errors/leader-election-config.error';
import { NotLeaderError } from '../errors/not-leader.error';
import { LeaderOnly, type LeaderOnlyOptions } from './leader-only.decorator';

// The decorator alone, no Nest app: its metadata, how it stacks with the decorators it is documented to
// work with, and that an instance no explorer has bound never runs the method.

type MethodDecoratorFactory = () => MethodDecorator;

/** The real decorators `@LeaderOnly()` is documented to stack with, and a custom one. */
const OTHERS: [string, MethodDecoratorFactory][] = [
  ['@Cron', () => Cron('*/5 * * * * *')],
  ['@Interval', () => Interval(100)],
  ['@Timeout', () => Timeout(250)],
  ['@OnEvent', () => OnEvent('order.created')],
  ['SetMetadata', () => SetMetadata('custom', { kept: true })],
];

/** A fresh method decorated by `decorators`, applied in the order given (the one written lowest first). */
function decorate(decorators: MethodDecorator[]): (...args: unknown[]) => unknown {
  class Target {
    work(): string {
      return 'ran';
    }
  }
  const proto = Target.prototype as unknown as Record<string, unknown>;
  let descriptor = Object.getOwnPropertyDescriptor(proto, 'work')!;
  for (const decorator of decorators) {
    descriptor = (decorator(proto, 'work', descriptor) as PropertyDescriptor | undefined) ?? descriptor;
  }
  Object.defineProperty(proto, 'work', descriptor);
  return proto.work as (...args: unknown[]) => unknown;
}

/** Every metadata entry of `fn`, by key. */
function metadataOf(fn: object): Record<string, unknown> {
  return Object.fromEntries(
    Reflect.getMetadataKeys(fn).map((key) => [String(key), Reflect.getMetadata(key, fn)]),
  );
}

describe('@LeaderOnly()', () => {
  describe('stacking with other method decorators', () => {
    it.each(OTHERS)(
      "%s's metadata survives whether @LeaderOnly() is written above or below it",
      (_name, other) => {
        const alone = metadataOf(decorate([other()]));
        expect(Object.keys(alone).length).toBeGreaterThan(0);
        // Written below @LeaderOnly() it is applied first, to the original; above, to the wrapper.
        for (const order of [
          [other(), LeaderOnly()],
          [LeaderOnly(), other()],
        ]) {
          const stacked = decorate(order);
          expect(metadataOf(stacked)).toEqual({
            ...alone,
            [LEADER_ONLY_METADATA]: { election: undefined, onFollower: 'skip' },
          });
        }
      },
    );

    it('keeps all the metadata of several decorators on both sides of it', () => {
      const expected = metadataOf(decorate([Interval(100), SetMetadata('custom', 1), OnEvent('a')]));
      const stacked = decorate([Interval(100), LeaderOnly('jobs'), SetMetadata('custom', 1), OnEvent('a')]);
      expect(metadataOf(stacked)).toEqual({
        ...expected,
        [LEADER_ONLY_METADATA]: { election: 'jobs', onFollower: 'skip' },
      });
    });

    it('keeps the name and arity of the method it wraps', () => {
      class Named {
        @LeaderOnly()
        rebuild(_index: string, _force: boolean) {}
      }
      expect(Named.prototype.rebuild.name).toBe('rebuild');
      expect(Named.prototype.rebuild.length).toBe(2);
    });

    it.each<[string, string | LeaderOnlyOptions | undefined, object]>([
      ['no options', undefined, { election: undefined, onFollower: 'skip' }],
      ['an election name', 'billing', { election: 'billing', onFollower: 'skip' }],
      ['onFollower throw', { onFollower: 'throw' }, { election: undefined, onFollower: 'throw' }],
      [
        'both options',
        { election: 'billing', onFollower: 'throw' },
        { election: 'billing', onFollower: 'throw' },
      ],
    ])('with %s stores the normalised options as metadata', (_what, options, metadata) => {
      expect(Reflect.getMetadata(LEADER_ONLY_METADATA, decorate([LeaderOnly(options)]))).toEqual(metadata);
    });
  });

  describe('on an instance no explorer has bound (fails closed)', () => {
    class Unbound {
      calls = 0;
      @LeaderOnly()
      skipSync() {
        this.calls++;
        return 'ran';
      }
      @LeaderOnly()
      async skipAsync() {
        this.calls++;
        return 'ran';
      }
      @LeaderOnly({ election: 'billing', onFollower: 'throw' })
      throwSync() {
        this.calls++;
        return 'ran';
      }
      @LeaderOnly({ onFollower: 'throw' })
      async throwAsync() {
        this.calls++;
        return 'ran';
      }
    }

    it('skips a sync method: returns undefined without running it', () => {
      const unbound = new Unbound();
      expect(unbound.skipSync()).toBeUndefined();
      expect(unbound.calls).toBe(0);
    });

    it('skips an async method: returns a promise resolved to undefined without running it', async () => {
      const unbound = new Unbound();
      const result = unbound.skipAsync();
      expect(result).toBeInstanceOf(Promise);
      await expect(result).resolves.toBeUndefined();
      expect(unbound.calls).toBe(0);
    });

    it("with onFollower 'throw', a sync method throws NotLeaderError naming the election", () => {
      const unbound = new Unbound();
      let error: unknown;
      try {
        unbound.throwSync();
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(NotLeaderError);
      expect(error).toMatchObject({ election: 'billing', leaderId: null });
      expect(unbound.calls).toBe(0);
    });

    it("with onFollower 'throw', an async method rejects with NotLeaderError instead of throwing", async () => {
      const unbound = new Unbound();
      let result: Promise<string> | undefined;
      expect(() => {
        result = unbound.throwAsync();
      }).not.toThrow();
      await expect(result).rejects.toBeInstanceOf(NotLeaderError);
      expect(unbound.calls).toBe(0);
    });

    it('called with another `this` (detached, or on the prototype) it does not run either', () => {
      const unbound = new Unbound();
      const detached = unbound.skipSync;
      expect(detached.call(undefined)).toBeUndefined();
      expect(Unbound.prototype.skipSync.call({ calls: 0 })).toBeUndefined();
      expect(unbound.calls).toBe(0);
    });
  });

  describe('misuse', () => {
    it.each<[string, unknown]>([
      ['an empty election name', ''],
      ['an empty election in options', { election: '' }],
      ['a non-string election', { election: 42 }],
      ['an unknown onFollower', { onFollower: 'explode' }],
      ['a number', 42],
      ['null', null],
    ])('rejects %s with a LeaderElectionConfigError naming the accepted forms', (_what, options) => {
      const make = () => LeaderOnly(options as LeaderOnlyOptions);
      expect(make).toThrow(LeaderElectionConfigError);
      expect(make).toThrow(
        /@LeaderOnly\(\) takes an election name or \{ election\?: string; onFollower\?: 'skip' \| 'throw' \}/,
      );
    });

    it('rejects something that is not a method (a getter, a field), naming class and member', () => {
      const target = { constructor: { name: 'Config' } } as object;
      const getter: PropertyDescriptor = { get: () => 1, configurable: true };
      expect(() => LeaderOnly()(target, 'value', getter)).toThrow(LeaderElectionConfigError);
      expect(() => LeaderOnly()(target, 'value', getter)).toThrow(
        /@LeaderOnly\(\) can only decorate a method, but Config\.value is not one/,
      );
      const field = LeaderOnly() as unknown as (target: object, key: string) => void;
      expect(() => field(target, 'limit')).toThrow(/Config\.limit is not one/);
    });
  });
});
