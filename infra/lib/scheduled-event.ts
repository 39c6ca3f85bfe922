/** The API Gateway REST event a schedule sends the function, so that its HTTP routing
 *  answers scheduled work like a request (lambda/tests/data/events/ holds each one). */
export function scheduledRestEvent(method: 'GET' | 'POST', path: string, name: string) {
  const agent = `now-playing-${name}`;
  return {
    resource: path,
    path,
    httpMethod: method,
    headers: { 'User-Agent': agent },
    multiValueHeaders: { 'User-Agent': [agent] },
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    requestContext: {
      resourcePath: path,
      httpMethod: method,
      path,
      stage: 'schedule',
      requestId: name,
      identity: {},
    },
    body: null,
    isBase64Encoded: false,
  };
}
