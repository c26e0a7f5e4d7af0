import { arrayOf, field, struct, type ValueOf } from '../schema.js'

/**
 * DescribeConfigs (API key 32), versions 0-2: DescribeConfigsRequest.json /
 * DescribeConfigsResponse.json. resourceType 2 = topic, 4 = broker. A null
 * configurationKeys asks for every key.
 */
export const DescribeConfigsRequestSchema = struct([
  field(
    'resources',
    arrayOf(
      struct([
        field('resourceType', 'int8'),
        field('resourceName', 'string'),
        field('configurationKeys', arrayOf('string'), '0+', { nullableVersions: '0+' }),
      ]),
    ),
  ),
  field('includeSynonyms', 'bool', '1+'),
])

export const DescribeConfigsResponseSchema = struct([
  field('throttleTimeMs', 'int32'),
  field(
    'results',
    arrayOf(
      struct([
        field('errorCode', 'int16'),
        field('errorMessage', 'string', '0+', { nullableVersions: '0+' }),
        field('resourceType', 'int8'),
        field('resourceName', 'string'),
        field(
          'configs',
          arrayOf(
            struct([
              field('name', 'string'),
              field('value', 'string', '0+', { nullableVersions: '0+' }),
              field('readOnly', 'bool'),
              field('isDefault', 'bool', '0'),
              field('configSource', 'int8', '1+', { default: -1 }),
              field('isSensitive', 'bool'),
              field(
                'synonyms',
                arrayOf(struct([field('name', 'string', '1+'), field('value', 'string', '1+', { nullableVersions: '0+' }), field('source', 'int8', '1+')])),
                '1+',
              ),
            ]),
          ),
        ),
      ]),
    ),
  ),
])

export type DescribeConfigsRequest = ValueOf<typeof DescribeConfigsRequestSchema>
export type DescribeConfigsResponse = ValueOf<typeof DescribeConfigsResponseSchema>
