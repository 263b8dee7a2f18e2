import { Injectable } from '@nestjs/common';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { LeaderOnly } from 'nestjs-leader-election';
import { FAST_TIMING, RecordingLogger, startCandidate, waitUntil } from './support/candidates';
import { createTestDatabase, type TestDatabase } from './support/database';

// The `logger` option routes every line of the module (elector, Nest layer, history store) to the given
// LoggerService, and none of them to the app's own logger.

@Injectable()
class Ticker {
  @Interval(1_000)
  @LeaderOnly()
  tick(): void {}
}

@Injectable()
class OnceTicker {
  @LeaderOnly({ once: true, job: 'logger.once' })
  @Interval(200)
  tick(): void {}
}

describe('the logger option', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('logger');
  });

  afterAll(async () => {
    await db?.drop();
  });

  it("sends the elector's, the explorer's and the history store's lines to it, and none to the app's logger", async () => {
    const routed = new RecordingLogger();
    // The lease table exists, the terms table does not and createTable is off: the store warns once.
    const seed = await startCandidate({ options: { connection: db.url, ...FAST_TIMING } });
    await seed.service.waitForLeadership();
    await seed.service.getHistory(); // its history writes have landed
    await seed.close();
    await db.query('DROP TABLE leader_election_terms');

    const app = await startCandidate({
      options: { connection: db.url, ...FAST_TIMING, createTable: false, logger: routed },
      providers: [Ticker], // @Interval without ScheduleModule: the explorer warns
    });
    try {
      await app.service.waitForLeadership();
      await waitUntil(() => routed.including('leadership history').length > 0, 5_000, 'the history warning');
    } finally {
      await app.close();
    }

    expect(routed.including('Elected leader of "default"')).toHaveLength(1); // elector
    expect(routed.including('Stepped down as leader of "default"')).toHaveLength(1); // elector, at close
    expect(routed.including('no scheduler is registered')).toHaveLength(1); // explorer (Nest layer)
    expect(routed.including('leadership history')).toHaveLength(1); // history store
    const fromModule = ['Elected leader', 'Stepped down', 'no scheduler', 'leadership history'];
    expect(app.logger.lines.filter((line) => fromModule.some((text) => line.message.includes(text)))).toEqual(
      [],
    );
    // Without the option the same lines go to the app's logger (Nest's Logger).
    expect(seed.logger.including('Elected leader of "default"')).toHaveLength(1);
  });

  it("sends the run-once scheduler's lines to it", async () => {
    const routed = new RecordingLogger();
    // The runs table is missing and createTable is off: the scheduler logs the failure (once).
    const app = await startCandidate({
      options: {
        connection: db.url,
        elections: ['logger-once'],
        ...FAST_TIMING,
        createTable: false,
        runsTableName: 'no_such_runs',
        logger: routed,
      },
      imports: [ScheduleModule.forRoot() as never],
      providers: [OnceTicker],
    });
    try {
      await app.service.waitForLeadership('logger-once');
      await waitUntil(() => routed.including('no_such_runs').length > 0, 5_000, 'the run-once failure line');
    } finally {
      await app.close();
    }
    expect(routed.at('error').some((line) => line.includes('no_such_runs'))).toBe(true);
    expect(app.logger.including('no_such_runs')).toEqual([]);
  });
});
