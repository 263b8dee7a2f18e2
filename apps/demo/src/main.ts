import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { LeaderElectionService } from 'nestjs-leader-election';
import { AppModule } from './app.module';
import { describeDatabase, readDemoConfig } from './demo.config';

async function bootstrap(): Promise<void> {
  const config = readDemoConfig();
  const app = await NestFactory.create(AppModule.register(config), {
    logger: ['fatal', 'error', 'warn', 'log'],
  });
  // SIGTERM / SIGINT run the shutdown hooks: leader-only work drains and the lease is released at once.
  app.enableShutdownHooks();
  await app.listen(config.port, config.host);

  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const election = app.get(LeaderElectionService);
  const { leaseDurationMs, renewIntervalMs, pollIntervalMs, safetyMarginMs, tableName } = election.settings;
  // `npm run demo` and the process tests wait for this line and read the port and candidate id from it.
  new Logger('Demo').log(
    `Demo listening on http://${config.host}:${port} as ${election.candidateId}; ` +
      `lease table ${tableName} on ${describeDatabase(config.mysqlUrl)}; ` +
      `L=${leaseDurationMs} R=${renewIntervalMs} P=${pollIntervalMs} M=${safetyMarginMs} ms; ` +
      `job every ${config.jobIntervalMs} ms, fenced writes to ${config.ledgerTable}` +
      (config.fenceHoldMs > 0 ? ` (held open ${config.fenceHoldMs} ms)` : ''),
  );

  // Started by a parent with an IPC channel (`npm run demo`, the tests): shut down when it goes away, so
  // that no instance outlives it, even when the parent is killed with SIGKILL.
  if (process.send) {
    process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
    process.channel?.unref();
  }
}

bootstrap().catch((error: unknown) => {
  // Library errors carry no credentials; the URL itself is never printed.
  console.error(
    `Demo failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  );
  process.exit(1);
});
