import { DummyDriver, Kysely, MysqlAdapter, MysqlIntrospector, MysqlQueryCompiler } from 'kysely';

/**
 * A Kysely that compiles MySQL statements and never connects. The lease store runs the compiled text on
 * its own pool because kysely's driver gives no hold on the connection, and a missed deadline must
 * destroy exactly the connection the statement ran on.
 */
export const compilerOnly = new Kysely<Record<string, never>>({
  dialect: {
    createAdapter: () => new MysqlAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new MysqlIntrospector(db),
    createQueryCompiler: () => new MysqlQueryCompiler(),
  },
});
