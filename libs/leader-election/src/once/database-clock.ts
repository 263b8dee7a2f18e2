import type { Clock } from '../elector/clock';

/**
 * The database's clock as this process estimates it: an offset from the monotonic clock, learned from a
 * statement that read `UTC_TIMESTAMP(6)`, taken at the midpoint of its round trip. No host wall clock
 * enters it, so a host whose clock is off by an hour sees the same occurrences as the others.
 */
export class DatabaseClock {
  private offsetMs = 0;
  private syncedAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    private readonly read: () => Promise<number>,
  ) {}

  /** Records a reading of the database's clock taken between monotonic `sentAt` and `answeredAt`. */
  learn(dbNowMs: number, sentAt: number, answeredAt: number): void {
    this.offsetMs = dbNowMs - (sentAt + answeredAt) / 2;
    this.syncedAtMs = answeredAt;
  }

  /** The database's time now, as estimated (epoch ms). */
  now(): number {
    return this.clock.now() + this.offsetMs;
  }

  /** Milliseconds since the last reading. */
  get ageMs(): number {
    return this.clock.now() - this.syncedAtMs;
  }

  /** Reads the database's clock again (one statement); resolves its time. */
  async sync(): Promise<number> {
    const sentAt = this.clock.now();
    const dbNow = await this.read();
    this.learn(dbNow, sentAt, this.clock.now());
    return dbNow;
  }
}
