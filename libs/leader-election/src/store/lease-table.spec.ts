import { LeaderElectionConfigError } from '../errors/leader-election-config.error';
import { resolveLeaderElectionOptions } from '../leader-election.options';
import { createLeaseTableSql, upgradeLeaseTableSql } from './lease-table';

describe('lease table DDL helpers', () => {
  it.each(['a-b', '1table', 'x'.repeat(65), 'drop table x;'])(
    'createLeaseTableSql(%p) refuses the name with the same rule and words as the tableName option',
    (name) => {
      const optionError = (() => {
        try {
          resolveLeaderElectionOptions({ connection: 'mysql://u@localhost/db', tableName: name });
        } catch (error) {
          return error as Error;
        }
        throw new Error('the option was accepted');
      })();
      expect(() => createLeaseTableSql(name)).toThrow(LeaderElectionConfigError);
      expect(() => createLeaseTableSql(name)).toThrow(optionError.message);
      expect(() => upgradeLeaseTableSql(name)).toThrow(optionError.message);
    },
  );

  it('accepts every name the option accepts, $ included', () => {
    for (const name of ['leases', '_x', 'lease$2', 'L'.repeat(64)]) {
      expect(createLeaseTableSql(name)).toContain(`CREATE TABLE IF NOT EXISTS \`${name}\``);
    }
  });
});
